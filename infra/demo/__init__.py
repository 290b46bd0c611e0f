"""Demo data for a running platform, loaded through the write API like any client (`make demo`, run by `make up`).

- chorus.py: the Chorus electronics catalogue (chorus-icecat/) as `POST /products` bodies, and a plain product loader.
- seed.py: the demo data of `make up`: the catalogue, stock, thresholds and orders.
- api_keys.py: the keys it sends, from the `API_KEYS` the platform was started with.
"""
