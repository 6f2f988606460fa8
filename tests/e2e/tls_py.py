# tls_py.py: python-socketio's client over https with a CA bundle (a
# requests session's verify), polling or websocket (tests/e2e/tls.sh).
#   python3 tls_py.py URL CA.pem TRANSPORT
# Prints "ack TRANSPORT VALUE", exit 0; or "error ...", exit 1.
import sys
import requests
import socketio

url, ca, transport = sys.argv[1:4]
http = requests.Session()
http.verify = ca
http.trust_env = False     # REQUESTS_CA_BUNDLE would win over verify
sio = socketio.Client(http_session=http, reconnection=False)
try:
    sio.connect(url, transports=[transport], wait_timeout=10)
    ack = sio.call('echo', 'hi', timeout=10)
    print('ack %s %s' % (sio.transport(), ack), flush=True)
    sio.disconnect()
except Exception as e:  # noqa: BLE001 - report any failure as one line
    print('error %s: %s' % (type(e).__name__, e), flush=True)
    sys.exit(1)
