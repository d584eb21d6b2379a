"""The send runtime: dispatcher, router, quiet hours, writer, tracker, maintenance,
callbacks and replies. It never imports campaigns/, api/ or cli/: what it needs from them
is passed in by the daemon."""
