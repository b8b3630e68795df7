// What an operator does with the relying party, scripted: register a tenant CA the way
// tenant-ca.md and azure-iot-protocols.md describe it — upload, verification code, a proof signed
// by the Security Service with that CA's key, verify — then put it in a free slot of the
// enrollment group. The same steps `rover ca register|code|download-proof|verify|enroll` take.
import type { SecurityService } from './security-service.ts';
import type { RelyingParty } from './relying-party.ts';

export async function registerCa(ss: SecurityService, rp: RelyingParty, thumbprint: string, group: string): Promise<void> {
  const der = await ss.download({ thumbprint });
  let reg = rp.registration(thumbprint) ?? rp.upload(der);
  if (reg.status !== 'Verified') {
    const { code, etag } = rp.generateVerificationCode(reg.thumbprint, reg.etag);
    const proof = await ss.downloadProof(code, { thumbprint });
    reg = rp.verify(reg.thumbprint, etag, proof);
  }
  if (!rp.group(group)) rp.createGroup(group, { enabled: true });
  const g = rp.group(group)!;
  if (g.primary !== thumbprint && g.secondary !== thumbprint) rp.enroll(group, thumbprint);
}

/** The tenant's CAs that are not expired and not revoked at the Security Service's "now". */
export async function liveCas(ss: SecurityService) {
  return (await ss.list()).filter((c) => c.status === 'Active' || (c.status === 'Inactive' && c.label === 'new'));
}
