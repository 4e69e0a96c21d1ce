"""Regenerate the example shop data set (deterministic): python examples/generate.py."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import gzip
import json
import random
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent / "data"
COUNTRIES = ["US", "DE", "FR", "JP", "BR", "IN", "GB", "ES"]
FIRST = ["Ada", "Grace", "Linus", "Zoë", "José", "Søren", "Amélie", "Hiro", "Priya", "Chidi"]
LAST = ["Lovelace", "Hopper", "Torvalds", "O'Brien", "Müller", "García", "Nakamura", "Okafor"]
STATUSES = ["placed", "paid", "shipped", "delivered", "returned"]
TAGS = ["gift", "express", "fragile", "bulk", "promo"]


def customers(rng: random.Random) -> list[int]:
    ids = []
    start = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
    with open(HERE / "customers.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["customer_id", "name", "email", "country", "zip", "signed_up_at", "is_active", "note"]
        )
        for customer_id in range(1, 201):
            ids.append(customer_id)
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            email = f"{name.split(maxsplit=1)[0].lower()}.{customer_id}@example.com"
            zip_code = f"{rng.randint(501, 99950):05d}"
            signed = start + dt.timedelta(minutes=rng.randint(0, 1_000_000))
            offset = rng.choice(["+00", "+02", "-05:00", "Z"])
            note = rng.choice(
                ["", "VIP, prefers email", 'said "call me"', "line one\nline two", None]
            )
            writer.writerow(
                [
                    customer_id,
                    name,
                    email,
                    rng.choice(COUNTRIES),
                    zip_code,
                    signed.strftime("%Y-%m-%d %H:%M:%S") + offset,
                    rng.choice(["t", "f", "true", "false"]),
                    "" if note is None else note,
                ]
            )
    return ids


def orders(rng: random.Random, customer_ids: list[int]) -> None:
    order_id = 1000
    for month in ("2024-01", "2024-02"):
        lines = []
        for _ in range(250):
            order_id += 1
            items = [
                {
                    "sku": f"SKU-{rng.randint(1, 40):03d}",
                    "qty": rng.randint(1, 4),
                    "unit_price": str(decimal.Decimal(rng.randint(199, 9999)) / 100),
                }
                for _ in range(rng.randint(1, 3))
            ]
            total = sum(decimal.Decimal(i["unit_price"]) * i["qty"] for i in items)
            day = rng.randint(1, 28)
            record = {
                "order_id": order_id,
                "customer_id": rng.choice(customer_ids),
                "ordered_at": f"{month}-{day:02d}T{rng.randint(0, 23):02d}:"
                f"{rng.randint(0, 59):02d}:00Z",
                "status": rng.choice(STATUSES),
                "total": float(total),
                "items": items,
                "tags": rng.sample(TAGS, rng.randint(0, 2)),
            }
            lines.append(json.dumps(record, ensure_ascii=False))
        with gzip.open(HERE / f"orders-{month}.ndjson.gz", "wt", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


def products(rng: random.Random) -> None:
    count = 40
    table = pa.table(
        {
            "product_id": pa.array(range(1, count + 1), pa.int32()),
            "sku": [f"SKU-{i:03d}" for i in range(1, count + 1)],
            "uuid": pa.array(
                [uuid.UUID(int=rng.getrandbits(128)).bytes for _ in range(count)], pa.binary(16)
            ),
            "title": [
                f"{rng.choice(['Blue', 'Red', 'Tiny', 'Huge'])} "
                f"{rng.choice(['widget', 'gadget', 'gizmo'])}"
                for _ in range(count)
            ],
            "price": pa.array(
                [decimal.Decimal(rng.randint(199, 9999)) / 100 for _ in range(count)],
                pa.decimal128(10, 2),
            ),
            "weight_kg": [round(rng.uniform(0.05, 12.0), 3) for _ in range(count)],
            "in_stock": [rng.random() > 0.2 for _ in range(count)],
            "added_on": pa.array(
                [
                    dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 500))
                    for _ in range(count)
                ],
                pa.date32(),
            ),
        }
    )
    pq.write_table(table, HERE / "products.parquet")


def main() -> None:
    rng = random.Random(20261128)
    HERE.mkdir(exist_ok=True)
    ids = customers(rng)
    orders(rng, ids)
    products(rng)


if __name__ == "__main__":
    main()
