"""`make bench`: verifier side by side with DuckDB, pyarrow, rclone and md5sum on the same files.

See bench/README.md. Run with ``python -m bench [--size 200MB]``.
"""
