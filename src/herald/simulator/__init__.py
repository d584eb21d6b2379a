"""An SMSC simulator with named personalities, for tests, benchmarks, the daemon's demo mode
and `herald simulate`.

    from herald.simulator import Simulator, personality_settings

    async with Simulator(personality_settings("early_receipt", seed=1)) as sim:
        host, port = sim.address
        ...
        await sim.wait_for_receipts_acked(3)
        print(sim.stats.as_dict(), sim.submits[-1].message_text)

See docs/simulator.md for the personalities, the knobs and the record format.
"""

from herald.simulator.personalities import (
    DESCRIPTIONS,
    PERSONALITIES,
    personality_settings,
    with_personality,
)
from herald.simulator.recorder import SubmitRecord
from herald.simulator.server import Simulator, start_from_config
from herald.simulator.settings import Delay, SimulatorSettings
from herald.simulator.stats import SimulatorStats

__all__ = [
    "DESCRIPTIONS",
    "PERSONALITIES",
    "Delay",
    "Simulator",
    "SimulatorSettings",
    "SimulatorStats",
    "SubmitRecord",
    "personality_settings",
    "start_from_config",
    "with_personality",
]
