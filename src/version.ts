// The version Yak reports (jabber:iq:version, logs); kept in step with package.json.
export const YAK_VERSION = '0.1.0';
