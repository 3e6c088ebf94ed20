"""Causal language models (the ``llm`` type): the base model's chat template applied and fingerprinted, loss on
completion / assistant tokens only, examples packed without attention across them. Not in the registry yet:
training, evaluation, generation and serving come next (issue 17)."""
