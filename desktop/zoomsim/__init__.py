"""The local Zoom: Zoom's OAuth, REST and webhook protocol on one machine.

``run_in_thread(SimConfig(...))`` serves it for tests; ``profitringer zoom-sim``
serves it from the command line. See ``desktop.zoomsim.server`` for the routes
and the ``/_sim/`` control API.
"""
