"""Tools around the stages: chat with a model, check the machine."""
