"""The built-in base model: a travel corpus and a small Llama pre-trained on it."""
