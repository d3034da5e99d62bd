"""The core every other part builds on: the 15 bands, land-cover classes, the 10 m UTM grid,
terrain-flattening geometry, stack I/O, the event catalog, project paths and atomic writes.

Nothing here imports from ``sources``, ``train``, ``monitor``, ``ops`` or ``cli``.
"""
