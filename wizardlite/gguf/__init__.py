"""GGUF files: read them, map their tensors to Hugging Face names, and convert both ways."""
