"""Local development: the whole mesh on embedded defaults, and a mail catcher."""
