"""gee-landslide: landslide detection and monitoring from Sentinel-1/2 and terrain.

Implements Ganerod et al., "Automating global landslide detection with heterogeneous ensemble
deep-learning classification": per-event 15-band stacks from Google Earth Engine (or the
embedded scene simulator), a 360-model segmentation sweep, top-K ensembles, and scheduled
monitoring with an alert feed.
"""

__version__ = "0.1.0"
