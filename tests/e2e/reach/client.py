"""The reach matrix's Python clients: `urllib` (urllib.request.urlopen) and `requests`, both
configured only by the environment (http_proxy / https_proxy; SSL_CERT_FILE and
REQUESTS_CA_BUNDLE for the fixture's CA). One line per URL: index, status (0 when the request
failed), and the start of the body or the error, on one line."""
import sys


def one_line(s):
    return s[:300].replace("\r", "").replace("\n", "\\n")


def fetch(how, url):
    if how == "requests":
        import requests

        r = requests.get(url, timeout=15)
        return r.status_code, r.text
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=15) as r:
            return r.status, r.read(4096).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read(4096).decode("utf-8", "replace")


def main():
    how = sys.argv[1]
    for i, url in enumerate(sys.argv[2:]):
        try:
            status, body = fetch(how, url)
            print(f"{i}\t{status}\t{one_line(body)}", flush=True)
        except Exception as e:  # every failure is a result to report
            print(f"{i}\t0\t{one_line(type(e).__name__ + ': ' + str(e))}", flush=True)


main()
