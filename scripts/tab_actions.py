"""What one load-test session does in a dashboard tab (scripts/load_sessions.py): open a page, wait for it to
be idle or to show its charts, pick anomaly sets, and read or wait for what Tune shows."""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser_sessions import IDLE_JS, RUNNING_JS, idle_arg  # noqa: E402

from detector.evaluation.evaluate import beta_of  # noqa: E402  (the β caption a move must bring)

METRICS = '[data-testid="stMetricValue"]'
CHARTS = '[data-testid="stVegaLiteChart"] canvas'
EXCEPTION = '[data-testid="stException"]'
WAIT_MS = 300_000  # any one wait; a timed-out action is a problem
#: polled every 50 ms in every tab: textContent of the few elements it needs (innerText of the whole page made
#: each poll lay the page out, and twenty tabs doing so took the CPU the server and the pages need)
CAPTIONS = '[data-testid="stCaptionContainer"]'
CHANGED_JS = f"""([before, caption]) => {{
  const now = [...document.querySelectorAll('{METRICS}')].map(e => e.textContent).join();
  if (before !== null && now !== before && now.split(',').length === 4) return true;
  return !{RUNNING_JS} && [...document.querySelectorAll('{CAPTIONS}')].some(e => e.textContent.includes(caption));
}}"""


def caption(beta2: float, beta3: float) -> str:
    """What Tune writes under its sliders once it has run with them."""
    return f"β = ({', '.join(f'{b:.2f}' for b in beta_of(beta2, beta3))})"


async def idle(tab, quiet: float = 0.3) -> None:
    await tab.wait_for_function(IDLE_JS, arg=idle_arg(quiet), polling=50, timeout=WAIT_MS)


def slider(tab, label: str):
    return tab.locator('[data-testid="stSlider"]', has_text=f"{label} —").get_by_role("slider")


async def open_page(tab, link: str, heading: str) -> None:
    await tab.get_by_role("link", name=link, exact=True).first.click()
    await tab.get_by_role("heading", name=heading).first.wait_for()


async def shown(tab, selector: str, count: int) -> None:
    """Until ``count`` elements match ``selector``; an exception shown instead is raised."""
    await tab.wait_for_function(f"document.querySelectorAll('{selector}').length >= {count} || "
                                f"document.querySelector('{EXCEPTION}')", polling=100)
    if await tab.locator(EXCEPTION).count():
        raise RuntimeError(f"the page shows an exception: {(await tab.locator(EXCEPTION).first.inner_text())[:300]}")


async def pick_sets(tab, sets: tuple[str, ...]) -> None:
    box = tab.locator('[data-testid="stMultiSelect"]', has_text="Anomaly sets")
    await box.get_by_role("button", name="Clear all").click()  # there is one: every pick has a set
    await idle(tab)
    for name in sets:
        await box.locator("input").click()
        await box.locator("input").fill(name)
        await tab.keyboard.press("Enter")
        await idle(tab)
    await tab.keyboard.press("Escape")


async def shown_key(tab) -> tuple:
    """(sets, β₂, β₃, ν) as the page shows them."""
    nu = await slider(tab, "ν").get_attribute("aria-valuetext")  # a select_slider's value is an index
    return await shown_sets(tab), await beta_value(tab, "β₂"), await beta_value(tab, "β₃"), nu


async def shown_sets(tab) -> tuple[str, ...]:
    chips = await tab.locator('[data-testid="stMultiSelect"] [data-tag]').all_inner_texts()
    return tuple(c.split(" (")[0] for c in chips)


async def beta_value(tab, label: str) -> str:
    return await slider(tab, label).input_value()


class AnswerClock:
    """A β move without the page's drawing: from the rerun request the tab sends to the frame that brings the
    first new number (the metric "per-class TNR@95TPR"), both timed by Chromium's network process (Chrome
    DevTools Protocol timestamps), not by the tab's busy renderer. That process shares the cores with the tabs:
    under load the time is an upper bound on the server's."""

    MARKER = b"per-class TNR@95TPR"

    def __init__(self, cdp):
        self.cdp, self.sent, self.answered = cdp, [], []
        cdp.on("Network.webSocketFrameSent", lambda event: self.sent.append(event["timestamp"]))
        cdp.on("Network.webSocketFrameReceived", self._received)

    @classmethod
    async def attach(cls, tab) -> "AnswerClock":
        return cls(await tab.context.new_cdp_session(tab))

    def _received(self, event) -> None:
        frame = event["response"]
        data = base64.b64decode(frame["payloadData"]) if frame["opcode"] == 2 else frame["payloadData"].encode()
        if self.sent and not self.answered and self.MARKER in data:
            self.answered.append(event["timestamp"])

    async def start(self) -> None:
        self.sent.clear()
        self.answered.clear()
        await self.cdp.send("Network.enable")

    async def stop(self) -> float | None:
        """Seconds from the request to the answer (None: no answer seen within a second of the drawing)."""
        for _ in range(20):
            if self.answered:
                break
            await asyncio.sleep(0.05)
        await self.cdp.send("Network.disable")
        return self.answered[0] - self.sent[0] if self.sent and self.answered else None
