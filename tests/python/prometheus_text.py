"""The Prometheus project's own Python client (PyPI `prometheus-client`) as the oracle for
the gateway's /metrics text: its exposition-format parser reads stdin, and the families
come out as JSON on stdout: {name: {"type", "help", "samples": [[name, labels, value]]}}.
A text the parser refuses exits non-zero with its error."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {
        "type": family.type,
        "help": family.documentation,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
json.dump(families, sys.stdout)
