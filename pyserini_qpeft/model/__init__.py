"""The Q-PEFT model: LM loading, prompt layout and scoring, the variants and their hint selection, config,
checkpoints and model cards."""
