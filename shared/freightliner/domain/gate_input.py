"""The scan gate's execution input, kept well inside Step Functions' 256 KiB.

Step Functions limits an execution's input, every state's data and every task's payload to
256 KiB. The machine adds to its input as it goes: a check's answer, a verdict, an outcome
and, on the failure paths, a task's error cause (at most 32 KiB, and held up to three times:
the error, the outcome's reason, a failed recording). So the input stays under
`GATE_INPUT_BUDGET`, half the limit. An item that would take it over (a platform list of
thousands, as for an index with thousands of children) travels packed as an SQS body would
(compressed, or a reference to the state table: `PayloadCodec`); the Lambda tasks unpack it,
and the machine's Enqueue sends it to the work queue as it is, which the replicate function
unpacks too. `held` keeps in plain sight the few fields the machine itself reads (the image a
wait is parked under, what an announcement names).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from freightliner.domain.errors import InvalidInput
from freightliner.domain.scans import ScanPolicy
from freightliner.domain.work import GateRequest, WorkItem

STATE_DATA_LIMIT = 256 * 1024
"""Step Functions' limit on an execution's input, a state's data and a task's payload."""
GATE_INPUT_BUDGET = STATE_DATA_LIMIT // 2
"""The execution input's bytes at most: the rest is room for what the states add."""


class HeldItem(BaseModel):
    """What the state machine reads from the held item itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    destination: str
    rule: str
    job_id: str


class GateInput(BaseModel):
    """A gate execution's input as it travels: the `GateRequest`, its item maybe packed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: WorkItem | str = Field(description="the item, or its packed JSON (`PayloadCodec`)")
    held: HeldItem | None = Field(
        default=None, description="absent from executions started before items were packed"
    )
    policy: ScanPolicy
    item_id: str
    correlation_id: str

    @property
    def job_id(self) -> str:
        """The held item's job, read without unpacking the item."""
        if self.held is not None:
            return self.held.job_id
        if isinstance(self.item, WorkItem):
            return self.item.job_id
        raise InvalidInput("scan gate input: a packed item without its held fields")


def gate_input(
    request: GateRequest,
    pack: Callable[[str, int], str],
    budget: int = GATE_INPUT_BUDGET,
) -> str:
    """The execution input for `request`, at most `budget` bytes: the item as it is when the
    whole fits, else packed by `pack(text, limit)` into the room the rest leaves."""
    item = request.item
    whole = GateInput(
        item=item,
        held=HeldItem(
            source=item.source, destination=item.destination, rule=item.rule, job_id=item.job_id
        ),
        policy=request.policy,
        item_id=request.item_id,
        correlation_id=request.correlation_id,
    )
    text = whole.model_dump_json()
    size = len(text.encode())
    if size <= budget:
        return text
    item_text = item.model_dump_json()
    rest = size - len(item_text.encode()) + 2  # the packed item is a JSON string: its quotes
    if rest >= budget:
        raise InvalidInput(
            f"scan gate input of {rest} bytes besides its item exceeds {budget} bytes"
        )
    return whole.model_copy(update={"item": pack(item_text, budget - rest)}).model_dump_json()
