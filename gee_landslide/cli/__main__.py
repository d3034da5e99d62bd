"""``python -m gee_landslide.cli`` runs the command line (same as ``gee-landslide``)."""

from gee_landslide.cli import main

main()
