"""The web console at /ui (docs/console.md): server-rendered pages over the same services as
the API (herald.campaigns), signed in with an account's API key."""
