"""Reports for managers and admins: the dashboard's figures and the exports of requests, outbox and audit trail."""
