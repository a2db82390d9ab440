"""Everything that talks to GitHub: the REST API for one repository (``gateway``), the signed webhook
(``webhooks``, its handlers in ``dispatch``), what became of the pull requests the product opened
(``pull_requests``), issues as tasks (``issues``), the comments issues and pull requests are owed
(``comments``), what asks a pull request for a revision (``revisions``) and the feedback its
analyst reads (``feedback``)."""
