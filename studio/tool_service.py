"""The Tools panel's background thread: the explorer panels' ModelService (one run's model, jobs by
kind, progress and Stop) plus one more job, running a tool (engines/tools) on images."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal

from engines.tools.session import run_tool

from .model_service import ModelService


class ToolService(ModelService):
    tool_done = Signal(object)     # the dict engines.tools.session.run_tool returns

    def run_tool(self, tool: str, sources: list[str], params: dict, mask: np.ndarray | None = None,
                 run_dir: str | None = None) -> None:
        mask = None if mask is None else np.array(mask, bool)

        def job(progress):
            engine = self._need_engine()
            record = dict(self.record, run=run_dir or self.record.get("run", ""))
            self.send("tool_done", run_tool(engine, record, tool, list(sources), dict(params), mask, progress))
        self.submit("tool", job)
