"""One bind to one SMSC: the asyncio adapter around the sans-I/O `Connection` (the only socket
code in herald.smpp).

    session = Session(SessionSettings(name="acme", host="10.0.0.1", port=2775,
                                      system_id="herald", password="secret"),
                      on_deliver=keep_receipt, stats=metrics.bind("acme"))
    await session.start()                  # connect, bind, reconnect: in the background
    await session.wait_bound(10)           # BindError if the SMSC refuses the credentials
    result = await session.submit(source_addr="Brand", source_ton=5, source_npi=0,
                                  destination_addr="447700900123", short_message=b"hi")
    await session.close()                  # stop accepting, drain the window, unbind, close

The parts, one concern each (docs/protocol.md §4-5 for the why); each module's docstring
says what it guarantees:

    bind.py        Session: the public face; builds and wires the parts; start, close;
                   retiring a link; the rotation (a black hole is probed, not fed)
    link.py        Link: one TCP connection, its Connection, coalesced writes, the reader,
                   and what is in flight on it; settles all of it when the connection goes
    submits.py     Submits: queue, window, throttle, resend order, response timeouts, results
                   (throttling and generic_nack handling: `_throttled`, `_refused`)
    deliveries.py  Deliveries: deliver_sm / data_sm to on_deliver, answers, back-pressure
    keepalive.py   Keepalive: the link's timer: response timeouts, enquire_link, dead links
    connector.py   Connector: connect, bind, reconnect with backoff, stop at a refusal
    closing.py     Closer: drain, unbind, hang up, each bounded by the injected clock
    state.py       BindState: closed / connecting / bound / unbinding / refused, wait_bound
    pending.py     PendingSubmit, PendingControl: the requests in flight

They talk through small interfaces: the link calls the submit side and the delivery side
through `link.SubmitSide` and `link.DeliverySide` (and its owner through `on_lost` and
`on_unbound`), the submit side tells the session what a link's answers mean through
`submits.BindOwner`, the keepalive asks the submit side to expire late parts through
`keepalive.ResponseTimeouts`, and the connector hands the session each link through two
callbacks; none calls another's private methods. What each carrier fault leads to:
docs/operations.md (faults and guarantees).

Clock, sleep, network and randomness are injected, so tests drive timeouts, throttling and
backoff without real waiting.
"""

from herald.smpp.session.bind import Session
from herald.smpp.session.connector import Connect
from herald.smpp.session.deliveries import OnDeliver
from herald.smpp.session_settings import SessionSettings, describe_status

__all__ = ["Connect", "OnDeliver", "Session", "SessionSettings", "describe_status"]
