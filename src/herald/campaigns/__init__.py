"""The campaign service layer the API, the CLI and the console call: lifecycle, runs,
expansion, audience, address book, accounts, preview, progress and recipient files."""
