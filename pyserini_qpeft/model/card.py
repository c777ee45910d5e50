"""The model card of a checkpoint (``README.md``, as Hugging Face model repositories carry one).

It says what the checkpoint is (base model, variant, sizes, fusion weight), how it was trained (from
``training_summary.json`` when the folder has one) and whatever the caller adds (e.g. a test table).
A ``README.md`` we did not write is never replaced.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from pyserini_qpeft.files.atomic import atomic_write
from pyserini_qpeft.model.config import QPEFTConfig
from pyserini_qpeft.model.variants import get_variant

logger = logging.getLogger(__name__)

CARD_NAME = "README.md"
MARKER = "<!-- model card written by pyserini_qpeft; edits are replaced when the checkpoint is saved again -->"


def render_card(config: QPEFTConfig, summary: dict | None = None, extra: str | None = None) -> str:
    """The card's Markdown text."""
    spec = get_variant(config.variant)
    lines = [
        MARKER,
        f"# Q-PEFT reranker: {spec.description}",
        "",
        "A query-likelihood reranker for Pyserini (`pip install pyserini_qpeft`): the frozen causal LM below",
        "scores a document by how likely it finds the query given the document. Only the parts listed here",
        "were trained; the LM is loaded by name and never stored in this folder.",
        "",
        "| | |",
        "| --- | --- |",
        f"| base model | `{config.base_model}` |",
        f"| variant | `{config.variant}` |",
        f"| soft prompt | {config.num_virtual_tokens if spec.uses_prompt else 0} virtual tokens |",
    ]
    if spec.uses_hints:
        lines.append(f"| hint settings | num_hints {config.num_hints}, attention_heads {config.attention_heads} |")
    weight = "none" if config.fusion_weight is None else f"{config.fusion_weight:.2f} (BM25's share, picked on dev)"
    lines += [f"| max length | {config.max_length} tokens per pair |", f"| fusion weight | {weight} |", ""]
    if summary:
        recipe = summary.get("training_config", {})
        lines += [
            "## Training",
            "",
            f"{summary.get('train_queries')} training queries, {summary.get('dev_queries')} dev queries "
            f"(early stopping on dev loss; best {_number(summary.get('best_dev_loss'))}); "
            f"{summary.get('trainable_parameters')} trainable parameters"
            + (f"; {seconds / 3600:.1f} h of training" if (seconds := summary.get("train_seconds_all_runs")) else "")
            + (f" in {dtype} on {summary.get('device')}." if (dtype := summary.get("dtype")) else "."),
            "",
            "```json",
            json.dumps(recipe, indent=2, sort_keys=True),
            "```",
            "",
        ]
    lines += [
        "## Use",
        "",
        "```python",
        "from pyserini_qpeft import QPEFTReranker",
        "",
        "reranker = QPEFTReranker.from_pretrained(PATH_OR_PRESET)",
        "reranker.rerank(query, hits, searcher=searcher, k=20)",
        "```",
        "",
    ]
    if extra:
        lines += [extra.rstrip(), ""]
    return "\n".join(lines)


def write_card(folder: str | os.PathLike, config: QPEFTConfig, extra: str | None = None) -> bool:
    """Write ``README.md`` in ``folder`` unless a README we did not write is there; True when written."""
    path = Path(folder) / CARD_NAME
    if path.exists() and not path.read_text(encoding="utf-8", errors="replace").startswith(MARKER):
        logger.info("%s is not ours; the model card is not written", path)
        return False
    summary_path = Path(folder) / "training_summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else None
    with atomic_write(path) as handle:
        handle.write(render_card(config, summary, extra))
    return True


def _number(value: object) -> object:
    """A float at four decimals (as the logs print dev losses); anything else as it is."""
    return f"{value:.4f}" if isinstance(value, float) else value
