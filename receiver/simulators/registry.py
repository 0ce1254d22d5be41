"""The simulated providers, one instance each: the one list that routes, pages, documents and
the command read."""

from __future__ import annotations

from receiver.simulators.akinon import Akinon
from receiver.simulators.apitree import ApiTree
from receiver.simulators.model import Simulator
from receiver.simulators.qovery import Qovery

AKINON = Akinon()
APITREE = ApiTree()
QOVERY = Qovery()
SIMULATORS: dict[str, Simulator] = {
    simulator.id: simulator for simulator in (AKINON, APITREE, QOVERY)
}
