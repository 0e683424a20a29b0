"""Write the Spark files of the corpus: what AEP's exporter (Apache Spark) writes.

Not run by the tests (they must not need Java): run by hand when the selection changes,
    .venv/bin/pip install pyspark   # in your venv only, not a project dependency
    .venv/bin/python tests/corpus/spark/generate.py
and commit the files it writes next to it. Each file is one part, renamed for what it holds.
"""

from __future__ import annotations

import datetime as dt
import decimal
import shutil
import tempfile
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import types as T

HERE = Path(__file__).parent
ROWS = 300

SCHEMA = T.StructType(
    [
        T.StructField("_id", T.StringType(), False),
        T.StructField("timestamp", T.TimestampType(), True),
        T.StructField(
            "web",
            T.StructType(
                [
                    T.StructField(
                        "webPageDetails",
                        T.StructType([T.StructField("URL", T.StringType()), T.StructField("name", T.StringType())]),
                    )
                ]
            ),
        ),
        T.StructField("commerce", T.StructType([T.StructField("priceTotal", T.DecimalType(18, 2))])),
        T.StructField(
            "productListItems",
            T.ArrayType(T.StructType([T.StructField("SKU", T.StringType()), T.StructField("quantity", T.LongType())])),
        ),
        T.StructField("identityMap", T.MapType(T.StringType(), T.StringType())),
        T.StructField("isBot", T.BooleanType()),
        T.StructField("score", T.DoubleType()),
    ]
)


def rows(n: int) -> list[tuple[object, ...]]:
    t0 = dt.datetime(2026, 11, 30, 0, 0, 0)
    return [
        (
            f"id-{i:08d}",
            t0 + dt.timedelta(seconds=37 * i) if i % 11 else None,
            ((f"https://example.com/{i % 97}", f"page {i % 13}"),),
            (decimal.Decimal(i) / 4,),
            [(f"S{i % 7}", i % 3)] * (i % 3),
            {"ECID": f"{i:020d}"} if i % 5 else None,
            i % 17 == 0,
            i / 7 if i % 9 else float("nan"),
        )
        for i in range(n)
    ]


def write(spark: SparkSession, n: int, fmt: str, codec: str, name: str, **options: str) -> None:
    out = Path(tempfile.mkdtemp(prefix="spark-corpus-"))
    df = spark.createDataFrame(rows(n), SCHEMA).coalesce(1)
    df.write.mode("overwrite").options(compression=codec, **options).format(fmt).save(str(out / "d"))
    (part,) = [p for p in (out / "d").iterdir() if p.name.startswith("part-")]
    shutil.copyfile(part, HERE / name)
    shutil.rmtree(out)


def main() -> None:
    spark = SparkSession.builder.master("local[1]").appName("corpus").getOrCreate()
    try:
        write(spark, ROWS, "parquet", "gzip", "xdm.gz.parquet")  # what AEP writes, compressed
        write(spark, ROWS, "parquet", "none", "xdm.parquet")  # and uncompressed
        write(spark, ROWS, "parquet", "snappy", "xdm.snappy.parquet")  # Spark's own default
        write(spark, ROWS, "parquet", "zstd", "xdm.zstd.parquet")
        write(spark, 0, "parquet", "gzip", "empty.gz.parquet")  # an export with no rows
        write(spark, ROWS, "parquet", "gzip", "legacy.gz.parquet", **{"parquet.enable.dictionary": "false"})
        write(spark, ROWS, "json", "gzip", "xdm.json.gz")  # AEP's JSON: NDJSON in gzip
        write(spark, 0, "json", "gzip", "empty.json.gz")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
