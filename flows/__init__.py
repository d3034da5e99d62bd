"""Prefect flows of gee-landslide: ingest, training, ensemble selection and monitoring."""
