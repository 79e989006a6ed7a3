# Bench shim (not committed): widens the window between the drain's last backlog sweep and the
# listener's close by DRAIN_WIDEN seconds, as a descheduled worker would.
import os

if os.environ.get("DRAIN_WIDEN"):
    import time

    from cds_service.protocol import server

    _original = server.DrainingServer._accept_backlog

    def _widened(self):
        _original(self)
        time.sleep(float(os.environ["DRAIN_WIDEN"]))

    server.DrainingServer._accept_backlog = _widened
