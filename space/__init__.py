"""The Space: what the app's tabs do, as plain functions over model handles and corpora (``service``;
``evaluate`` for the evaluation tab), the checks of what visitors send (``checks``), the figures and the
downloads they get (``figures``, ``downloads``) and the server's log (``logs``). ``app.py`` lays out the
page and wires it to these. Visitors' Spanish texts live in ``core.messages`` (the corpus reader below
raises them too).
"""
