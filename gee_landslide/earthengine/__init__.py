"""Google Earth Engine source of the 15-band stacks (paper Table 2).

The builders in this sub-package (:mod:`sentinel1`, :mod:`sentinel2`, :mod:`dem`,
:mod:`auxiliary`, :mod:`landcover`, :mod:`recipe`) are pure: they return ``ee`` objects and
never talk to the server (no ``getInfo``), so a whole recipe can be built, inspected and
serialized offline (:func:`gee_landslide.earthengine.init.initialize_offline`). Only
:mod:`export` (``ee.data.computePixels``) and :mod:`init` (credentials) use the network.
"""

RECIPE_VERSION = "2"
