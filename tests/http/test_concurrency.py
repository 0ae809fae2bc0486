"""Requests in parallel on the worker threads give the same answers as one at a time (each thread
has its own scratch buffers). Bounded: 4 client threads, 24 requests each."""
import threading
import unittest

from common import ServerTestCase, b64, digits, png_of


class Parallel(ServerTestCase):
    server_args = ["--threads", "2"]

    def test_same_answers_in_parallel(self):
        pngs = [png_of(digits().digit(k)) for k in range(6)]
        jobs = []
        for k in range(24):
            if k % 3 == 0:
                jobs.append(("GET", "/sample?n=%d&seed=%d" % (k % 7 + 1, k), None, None))
            elif k % 3 == 1:
                jobs.append(("POST", "/encode", pngs[k % 6], "image/png"))
            else:
                jobs.append(("POST", "/interpolate?format=json", b'{"from": %d, "to": %d, "steps": %d}'
                             % (k % 10, (k + 3) % 10, k % 5 + 2), "application/json"))
        expected = []
        for method, path, body, ctype in jobs:
            resp = self.client.request(method, path, body=body, content_type=ctype)
            self.assertEqual(resp.status, 200, resp)
            expected.append(resp.body)
        errors = []

        def worker(offset):
            for i in range(len(jobs)):
                j = (i + offset) % len(jobs)
                method, path, body, ctype = jobs[j]
                try:
                    resp = self.client.request(method, path, body=body, content_type=ctype)
                    if resp.status != 200 or resp.body != expected[j]:
                        errors.append("%s %s: %d, body %s" % (method, path, resp.status,
                                                              "same" if resp.body == expected[j] else "differs"))
                except Exception as e:  # collected and reported below
                    errors.append("%s %s: %r" % (method, path, e))

        threads = [threading.Thread(target=worker, args=(t * 6,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        # the batched encode of all six equals the six single ones
        body = self.client.post("/encode", {"images": [b64(p) for p in pngs]}).json()
        for k in range(6):
            single = self.client.post_png("/encode", pngs[k]).json()
            self.assertLess(max(abs(a - b) for a, b in zip(body["mu"][k], single["mu"])), 1e-4)


if __name__ == "__main__":
    unittest.main()
