"""The Space's pages (Gradio): one module per tab lays out its components and wires its events to the
plain functions of ``space``; ``app.py`` puts the tabs together."""
