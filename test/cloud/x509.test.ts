// The hand-written DER paths (device certificate writer, certificate / CSR reader) against OpenSSL:
// the fields our reader returns must be the ones OpenSSL reports, and what our writer produces must be
// what OpenSSL accepts, including RFC 5280's switch from UTCTime to GeneralizedTime in 2050.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../sim/cloud/clock.ts';
import { SecurityService } from '../../sim/cloud/security-service.ts';
import { CertificateFormatError, publicKeyFromSpki, readCertificate, readCsr, thumbprint, toDer, toPem } from '../../sim/cloud/x509.ts';
import { DAY, openssl, opensslCsr, opensslStatus, tempDir } from './_util.ts';

const s = suite('cloud/x509');
const tmp = tempDir('x509');
const f = (n: string) => join(tmp.dir, n);
s.after(() => tmp.remove());

s('readCertificate and readCsr return what OpenSSL reports for OpenSSL-made objects', () => {
  const { csrPem } = opensslCsr(tmp.dir, 'dev-x');
  writeFileSync(f('ext'), 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth,serverAuth\nsubjectKeyIdentifier=hash\n');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-subj', '/CN=Issuer X/O=Org', '-days', '30', '-out', f('ca.pem')]);
  openssl(['x509', '-req', '-in', f('dev-x.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-set_serial', '5', '-days', '2', '-extfile', f('ext'), '-out', f('leaf.pem')]);
  const pem = readFileSync(f('leaf.pem'), 'utf8');
  const der = toDer(pem);
  const x = new X509Certificate(der);
  const r = readCertificate(der);
  assert.is(r.commonName, 'dev-x');
  assert.is(r.notBefore, Date.parse(x.validFrom));
  assert.is(r.notAfter, Date.parse(x.validTo));
  assert.ok(r.clientAuth);
  assert.not.ok(r.isCA);
  const ski = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(openssl(['x509', '-in', f('leaf.pem'), '-noout', '-text']))![1].replace(/:/g, '');
  assert.is(r.subjectKeyId!.toUpperCase(), ski);
  assert.ok(readCertificate(toDer(readFileSync(f('ca.pem'), 'utf8'))).isCA === new X509Certificate(readFileSync(f('ca.pem'))).ca);
  assert.is(thumbprint(der), x.fingerprint.replace(/:/g, ''));
  const csr = readCsr(csrPem);
  assert.is(csr.commonName, 'dev-x');
  assert.ok(csr.signatureValid);
  // Every truncation of a certificate is refused, never misread.
  for (let n = 1; n < der.length; n += 7) {
    try {
      readCertificate(der.subarray(0, n));
      assert.unreachable(`truncated to ${n} bytes`);
    } catch (e) {
      assert.instance(e, CertificateFormatError);
    }
  }
});

s('publicKeyFromSpki: the P-256 shortcut and the generic path give the key OpenSSL encoded', () => {
  for (const curve of ['P-256', 'P-384']) {
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-nodes', '-keyout', f(`${curve}.key`), '-subj', '/CN=k', '-out', f(`${curve}.csr`)]);
    const spki = toDer(openssl(['req', '-in', f(`${curve}.csr`), '-noout', '-pubkey']), 'PUBLIC KEY');
    assert.equal(new Uint8Array(publicKeyFromSpki(spki).export({ type: 'spki', format: 'der' })), spki, curve);
    const csr = readCsr(readFileSync(f(`${curve}.csr`), 'utf8'));
    assert.ok(csr.signatureValid, `${curve} CSR verifies`);
  }
});

s('device certificates around 2050: UTCTime before, GeneralizedTime from 2050 (RFC 5280 4.1.2.5); OpenSSL verifies both', async () => {
  const clock = new ManualClock(Date.UTC(2049, 11, 1));
  const ss = await SecurityService.createTenant(f('ss'), { clock });
  const { csrPem } = opensslCsr(tmp.dir, 'dev-y');
  for (const at of [Date.UTC(2049, 11, 30, 12), Date.UTC(2049, 11, 31, 12)]) {
    clock.set(at);
    const dc = await ss.issueDeviceCertificate(csrPem, 'dev-y');
    writeFileSync(f('y.pem'), toPem(dc.certificate));
    writeFileSync(f('y-chain.pem'), dc.chain.map((d) => toPem(d)).join(''));
    const dates = openssl(['x509', '-in', f('y.pem'), '-noout', '-dates']);
    assert.is(Date.parse(/notAfter=(.*)/.exec(dates)![1]), at + DAY, 'OpenSSL reads the 24-hour notAfter');
    const v = opensslStatus(['verify', '-attime', String(at / 1000 + 3600), '-CAfile', f('y-chain.pem'), f('y.pem')]);
    assert.is(v.status, 0, v.out);
    assert.is(readCertificate(dc.certificate).notAfter, at + DAY);
    const asn = openssl(['asn1parse', '-in', f('y.pem')]);
    assert.match(asn, at + DAY >= Date.UTC(2050, 0, 1) ? /GENERALIZEDTIME\s*:20500101120000Z/ : /UTCTIME\s*:491231120000Z/);
  }
});

s.run();
