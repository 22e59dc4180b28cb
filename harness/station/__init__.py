"""The operator station: a local web page to run, watch and stop tests and browse results.

``tmsbench station`` serves it (:mod:`harness.station.app`). A run is the same pytest
run as on the command line, started in a subprocess (:mod:`harness.station.runner`);
the plugin writes its progress as JSON lines when given ``--events FILE``
(:mod:`harness.station.events`, which needs nothing beyond the standard library), and
the page follows that file through server-sent events. Results and drift pages read
the journal (:mod:`harness.station.results`, :mod:`harness.station.drift_view`).
"""
