/** `--opt encrypted`: the spellings that mean yes or no, and a typo refused (never a silent plaintext network). */
import t from 'tap';
import { encryptedOption, validateCreateRequest } from '../src/network/allocate.js';

t.test('encryptedOption', async (t) => {
  t.equal(encryptedOption(undefined), false);
  t.equal(encryptedOption({}), false);
  for (const v of ['', 'true', 'TRUE', 'yes', '1']) t.equal(encryptedOption({ encrypted: v }), true, v);
  for (const v of ['false', 'no', '0']) t.equal(encryptedOption({ encrypted: v }), false, v);
  t.match(encryptedOption({ encrypted: 'ture' }), /invalid option encrypted="ture"/);
});

t.test('validateCreateRequest carries it, and refuses a typo', async (t) => {
  t.equal(validateCreateRequest({ name: 'n1', options: { encrypted: '' } }).encrypted, true);
  t.equal(validateCreateRequest({ name: 'n1' }).encrypted, false);
  t.throws(() => validateCreateRequest({ name: 'n1', options: { encrypted: 'maybe' } }), { code: 'VXNET_INVALID_ARGUMENT', message: /invalid option encrypted="maybe"/ });
});
