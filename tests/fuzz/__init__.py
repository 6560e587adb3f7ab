"""The HTTP fuzzer that tests/integration/test_http_fuzz.py runs against live workers.

- config: the keys, the environment knobs (FUZZ_*) and the two workers' environments
- jsontext: JSON text the stdlib encoder cannot write (Raw tokens, Deep nesting), describe()
- values: the odd values and leaf strategies (ids, timestamps, traits, arbitrary JSON)
- bodies: Segment messages, batches and widget events, serialised in several ways
- encodings: Content-Encoding / Transfer-Encoding variants of a body (gzip bombs included)
- credentials, headers, paths: what a request carries besides its body
- strategies: one strategy per kind of request, and any_request() mixing them
- client: the request model and the raw-socket client
- worker_log, recorder, runner: sending the requests, recording answers, statuses and failures
- report: grouping the failures and rendering the summary and the failure report

No module here is named test_*.py, so pytest never collects this package as tests.
"""
