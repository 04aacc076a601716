// UI strings in Chinese and English. Code refers to keys only, so a missing translation is a
// type error: `zh` must have every key that `en` has.

const en = {
  'app.title': 'Huiyi',
  'app.tagline': 'Open, self-hosted meetings',
  'join.name': 'Your name',
  'join.namePlaceholder': 'e.g. Li Lei',
  'join.room': 'Meeting room',
  'join.roomPlaceholder': 'e.g. weekly-sync',
  'join.submit': 'Join meeting',
  'join.code': 'Meeting code',
  'join.password': 'Meeting password (if any)',
  'join.withToken': 'Joining with the access token from the link.',
  'join.missingField': 'Please enter your name and a room.',
  'controls.mute': 'Mute',
  'controls.unmute': 'Unmute',
  'controls.cameraOff': 'Stop video',
  'controls.cameraOn': 'Start video',
  'controls.shareStart': 'Share screen',
  'controls.shareStop': 'Stop sharing',
  'controls.leave': 'Leave',
  'tile.you': '(you)',
  'tile.screen': 'screen',
  'tile.micMuted': 'Microphone muted',
  'status.idle': 'Not connected',
  'status.connecting': 'Connecting…',
  'status.connected': 'Connected',
  'status.reconnecting': 'Reconnecting…',
  'status.disconnected': 'Disconnected',
  'status.room': 'Room',
  'error.token': 'Could not get an access token',
  'error.connect': 'Could not connect',
  'error.devices': 'Camera or microphone unavailable',
  'error.share': 'Screen sharing failed',
  'reason.CLIENT_INITIATED': 'you left the meeting',
  'reason.DUPLICATE_IDENTITY': 'you joined from another window',
  'reason.SERVER_SHUTDOWN': 'the server is shutting down',
  'reason.PARTICIPANT_REMOVED': 'you were removed by the host',
  'reason.ROOM_DELETED': 'the meeting has ended',
  'reason.JOIN_FAILURE': 'could not finish joining',
  'reason.SIGNAL_CLOSE': 'the connection to the server closed',
  'reason.UNKNOWN_REASON': 'unknown reason',
} as const;

export type Key = keyof typeof en;

const zh: Record<Key, string> = {
  'app.title': '会议',
  'app.tagline': '开放、可自建的视频会议',
  'join.name': '您的名字',
  'join.namePlaceholder': '例如：李雷',
  'join.room': '会议室',
  'join.roomPlaceholder': '例如：weekly-sync',
  'join.submit': '加入会议',
  'join.code': '会议号',
  'join.password': '会议密码（如有）',
  'join.withToken': '将使用链接中的访问令牌加入。',
  'join.missingField': '请输入名字和会议室。',
  'controls.mute': '静音',
  'controls.unmute': '解除静音',
  'controls.cameraOff': '关闭视频',
  'controls.cameraOn': '开启视频',
  'controls.shareStart': '共享屏幕',
  'controls.shareStop': '停止共享',
  'controls.leave': '离开',
  'tile.you': '（我）',
  'tile.screen': '屏幕',
  'tile.micMuted': '麦克风已静音',
  'status.idle': '未连接',
  'status.connecting': '正在连接…',
  'status.connected': '已连接',
  'status.reconnecting': '正在重新连接…',
  'status.disconnected': '已断开',
  'status.room': '会议室',
  'error.token': '无法获取访问令牌',
  'error.connect': '无法连接',
  'error.devices': '摄像头或麦克风不可用',
  'error.share': '屏幕共享失败',
  'reason.CLIENT_INITIATED': '您已离开会议',
  'reason.DUPLICATE_IDENTITY': '您已在其他窗口加入',
  'reason.SERVER_SHUTDOWN': '服务器正在关闭',
  'reason.PARTICIPANT_REMOVED': '您已被主持人移出',
  'reason.ROOM_DELETED': '会议已结束',
  'reason.JOIN_FAILURE': '未能完成加入',
  'reason.SIGNAL_CLOSE': '与服务器的连接已关闭',
  'reason.UNKNOWN_REASON': '未知原因',
};

export type Lang = 'en' | 'zh';

const tables: Record<Lang, Record<Key, string>> = { en, zh };

/** `?lang=zh|en` wins; otherwise any Chinese browser locale (zh, zh-CN, zh-TW…) gets Chinese. */
export function pickLang(params: URLSearchParams, browserLang: string): Lang {
  const forced = params.get('lang');
  if (forced === 'zh' || forced === 'en') return forced;
  return browserLang.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

let current: Lang = 'en';

export function setLang(lang: Lang): void {
  current = lang;
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

export function t(key: Key): string {
  return tables[current][key];
}

/** Looks a key up only if it exists, for keys built at run time (disconnect reasons). */
export function tryT(key: string): string | undefined {
  return key in en ? t(key as Key) : undefined;
}

/** Fills every `data-i18n` element's text and every `data-i18n-placeholder` input's placeholder. */
export function translateDom(root: ParentNode): void {
  root.querySelectorAll<HTMLElement>('[data-i18n]').forEach((el) => {
    el.textContent = tryT(el.dataset.i18n ?? '') ?? el.textContent;
  });
  root.querySelectorAll<HTMLInputElement>('[data-i18n-placeholder]').forEach((el) => {
    el.placeholder = tryT(el.dataset.i18nPlaceholder ?? '') ?? el.placeholder;
  });
}
