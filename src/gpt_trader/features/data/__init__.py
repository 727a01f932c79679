"""Market data for research: a Parquet candle store, file import, Coinbase candle download, gap reports,
resampling, funding-rate series and seeded synthetic markets.

Entry points: `CandleStore` (store.py), `load_candle_file` (importer.py), `data_app` (cli.py).
Research slice: pandas/pyarrow are imported lazily and the live trading loop never imports it.
"""

__experimental__ = True
