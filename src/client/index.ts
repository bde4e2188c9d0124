// The client library in one import: streams, registration, login.
//
//   const c = await connect({ host: '127.0.0.1', port: 5222, domain: 'yak' });
//   await register(c, { username: 'dj', password: 'secret', name: 'DJ Adams' });
//   await login(c, { username: 'dj', password: 'secret', resource: 'Work' });
//   await c.close();
import { ClientStream, type ConnectOptions } from './client-stream.js';

export {
  ClientStream,
  ReplyTimeoutError,
  StreamClosedError,
  openingHeader,
  streamErrorText,
  type ConnectOptions,
} from './client-stream.js';
export { IqError, field, queryIq, requestResult } from './iq.js';
export {
  NS_REGISTER,
  register,
  registrationForm,
  type RegistrationFields,
  type RegistrationForm,
  type RequestOptions,
} from './register.js';
export {
  METHOD_PREFERENCE,
  NS_AUTH,
  NoAuthMethodError,
  authOffer,
  chooseMethod,
  login,
  type AuthMethod,
  type AuthOffer,
  type LoginOptions,
  type LoginResult,
} from './auth.js';

/** Same as ClientStream.connect. */
export function connect(opts: ConnectOptions): Promise<ClientStream> {
  return ClientStream.connect(opts);
}
