"""Everything that talks to GitHub: the REST API for one repository (``gateway``), the signed webhook
(``webhooks``, its handlers in ``dispatch``), what became of the pull requests the product opened
(``pull_requests``), issues as tasks (``issues``) and the comments issues are owed (``comments``)."""
