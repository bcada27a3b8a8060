"""Summaries coming in: gathering them from sources, the push API's use case, and each source's state.
Imports issues (rendering a summary) below it; never sending or ops."""
