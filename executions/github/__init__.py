"""Everything that talks to GitHub: publishing (``gateway``), the signed webhook (``webhooks``) and
what became of the pull requests the product opened (``pull_requests``)."""
