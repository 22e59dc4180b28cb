"""Grafana dashboards for tmsbench results, generated from code.

Built with grafana-foundation-sdk (pinned to a Grafana 11.6 build) plus our own
InfluxQL query builder (:mod:`dashboards.influxql`); ``python -m
dashboards.build`` writes the committed JSON (``json/``) and the Grafana
provisioning files (``provisioning/``). :mod:`dashboards.macros` expands
Grafana's InfluxQL macros the way Grafana does, so the tests can run every
panel query against a real InfluxDB; :mod:`dashboards.publish` uploads
everything through Grafana's HTTP API.
"""
