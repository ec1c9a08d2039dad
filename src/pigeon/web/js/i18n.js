// English and Simplified Chinese. The browser's language picks one; the user can switch.

const en = {
  app_name: "Pigeon",
  tagline: "Fast, reliable messaging.",
  sign_in: "Sign in",
  sign_up: "Create account",
  username: "Username",
  password: "Password",
  display_name: "Display name",
  display_name_optional: "Display name (optional)",
  username_hint: "3–32 characters: letters, digits, _ . -",
  password_hint: "At least 8 characters",
  no_account: "New to Pigeon?",
  have_account: "Already have an account?",
  required: "Please fill in {field}.",
  network_error: "Cannot reach the server. Check your connection and try again.",
  session_expired: "Your session has ended. Please sign in again.",
  language: "Language",
  theme: "Theme",
  theme_system: "System",
  theme_light: "Light",
  theme_dark: "Dark",
  toggle_theme: "Toggle dark mode",
  chats: "Chats",
  messages: "Messages",
  message_actions: "Message actions",
  contacts: "Contacts",
  rooms: "Rooms",
  search_placeholder: "Search chats, people and messages",
  search_people: "People",
  no_results: "No one found.",
  search_messages: "Messages",
  no_messages_found: "No messages found.",
  search_older: "Search older messages",
  no_chats: "No conversations yet. Search for someone to start chatting.",
  start_chat: "Message",
  new_group: "New group",
  settings: "Settings",
  log_out: "Log out",
  state_connecting: "Connecting…",
  state_online: "Online",
  state_syncing: "Syncing…",
  state_reconnecting: "Reconnecting…",
  state_reconnecting_in: "Reconnecting in {s}s…",
  state_offline: "Offline",
  state_displaced: "Open in another window or device",
  use_here: "Use here",
  retry_now: "Retry now",
  you: "You",
  pinned: "Pinned",
  muted: "Muted",
  pin: "Pin",
  unpin: "Unpin",
  mute: "Mute",
  unmute: "Unmute",
  mentioned_you: "[You were mentioned]",
  unread_count: "{n} unread",
  typing_one: "{name} is typing…",
  typing_many: "{n} people are typing…",
  typing_short: "typing…",
  online: "online",
  offline_status: "offline",
  last_seen: "last seen {when}",
  members_count: "{n} members",
  select_chat: "Select a conversation or search for someone to start chatting.",
  back: "Back",
  message_placeholder: "Write a message…",
  send: "Send",
  attach: "Attach a file",
  emoji: "Emoji",
  reply: "Reply",
  copy: "Copy",
  edit: "Edit",
  recall: "Recall",
  retry: "Retry",
  delete: "Delete",
  cancel: "Cancel",
  save: "Save",
  close: "Close",
  edited: "edited",
  recalled: "This message was recalled",
  recalled_by: "{name} recalled a message",
  editing: "Editing message",
  replying_to: "Replying to {name}",
  image: "[Image]",
  file: "[File]",
  custom: "[Message]",
  system_msg: "[Notice]",
  status_pending: "Sending",
  status_sent: "Sent",
  status_delivered: "Delivered",
  status_read: "Read",
  status_failed: "Not sent",
  loading: "Loading…",
  load_failed: "Could not load messages.",
  beginning: "This is the beginning of the conversation.",
  today: "Today",
  yesterday: "Yesterday",
  new_messages: "New messages",
  jump_latest: "Jump to latest messages",
  uploading: "Uploading {name}…",
  upload_failed: "Upload failed: {msg}",
  too_large_file: "The file is larger than {max}.",
  download: "Download",
  open_image: "Open image",
  image_viewer: "Image viewer",
  notifications: "Desktop notifications",
  notifications_hint: "Notify me of new messages while Pigeon is in the background",
  notifications_denied: "Notifications are blocked by the browser.",
  profile: "Profile",
  devices: "Devices",
  this_device: "this device",
  revoke: "Sign out",
  device_online: "online now",
  blocked_users: "Blocked users",
  block: "Block",
  unblock: "Unblock",
  add_friend: "Add friend",
  friend_request_sent: "Request sent",
  friends: "Friends",
  requests: "Friend requests",
  incoming: "Incoming",
  outgoing: "Sent",
  accept: "Accept",
  decline: "Decline",
  pending: "Pending",
  no_friends: "No friends yet. Search for people and add them.",
  remove_friend: "Remove friend",
  group_title: "Group name",
  visibility: "Visibility",
  private: "Private",
  public: "Public (anyone can find and join)",
  kind: "Type",
  kind_group: "Group",
  kind_channel: "Channel (only admins post)",
  add_members: "Add members",
  create: "Create",
  members: "Members",
  role_owner: "Owner",
  role_admin: "Admin",
  role_member: "Member",
  make_admin: "Make admin",
  remove_admin: "Remove admin",
  remove: "Remove",
  leave_group: "Leave group",
  dissolve_group: "Dissolve group",
  transfer: "Transfer ownership",
  confirm_leave: "Leave this group?",
  confirm_dissolve: "Dissolve this group for everyone?",
  confirm_transfer: "Make {name} the owner?",
  announcement: "Announcement",
  info: "Details",
  online_now: "Online now",
  nobody_online: "Nobody else is online.",
  directory: "Public rooms",
  directory_search: "Search public rooms",
  join: "Join",
  joined: "Joined",
  no_rooms: "No public rooms found.",
  everyone: "everyone",
  mention_all: "Notify everyone",
  read_only_channel: "Only admins can post in this channel.",
  something_wrong: "Something went wrong: {msg}",
  enable: "Enable",
  copied: "Copied",
  user_profile: "Profile",
  view_profile: "View profile",
  system_joined: "joined",
  sys_group_created: "{actor} created the group “{title}”",
  sys_group_updated: "{actor} updated the group",
  sys_group_dissolved: "{actor} dissolved the group",
  sys_member_added: "{actor} added {users}",
  sys_member_removed: "{actor} removed {users}",
  sys_member_updated: "{actor} changed a member's settings",
  sys_member_joined: "{actor} joined",
  sys_member_left: "{actor} left",
  sys_owner_transferred: "{actor} made {users} the owner",
  error_code_40004: "Username must be 3–32 characters: letters, digits, _ . -",
  error_code_40051: "The search text is too long.",
};

const zh = {
  app_name: "Pigeon 信鸽",
  tagline: "快速、可靠的即时通讯。",
  sign_in: "登录",
  sign_up: "注册账号",
  username: "用户名",
  password: "密码",
  display_name: "昵称",
  display_name_optional: "昵称（可选）",
  username_hint: "3–32 个字符：字母、数字、_ . -",
  password_hint: "至少 8 个字符",
  no_account: "还没有账号？",
  have_account: "已有账号？",
  required: "请填写{field}。",
  network_error: "无法连接服务器，请检查网络后重试。",
  session_expired: "登录已失效，请重新登录。",
  language: "语言",
  theme: "主题",
  theme_system: "跟随系统",
  theme_light: "浅色",
  theme_dark: "深色",
  toggle_theme: "切换深色模式",
  chats: "聊天",
  messages: "消息",
  message_actions: "消息操作",
  contacts: "联系人",
  rooms: "聊天室",
  search_placeholder: "搜索聊天、用户和消息",
  search_people: "用户",
  no_results: "没有找到用户。",
  search_messages: "聊天记录",
  no_messages_found: "没有找到消息。",
  search_older: "搜索更早的消息",
  no_chats: "还没有会话。搜索用户开始聊天吧。",
  start_chat: "发消息",
  new_group: "新建群组",
  settings: "设置",
  log_out: "退出登录",
  state_connecting: "连接中…",
  state_online: "在线",
  state_syncing: "同步中…",
  state_reconnecting: "重新连接中…",
  state_reconnecting_in: "{s} 秒后重新连接…",
  state_offline: "离线",
  state_displaced: "已在其他窗口或设备打开",
  use_here: "在此使用",
  retry_now: "立即重试",
  you: "我",
  pinned: "已置顶",
  muted: "免打扰",
  pin: "置顶",
  unpin: "取消置顶",
  mute: "免打扰",
  unmute: "取消免打扰",
  mentioned_you: "[有人@我]",
  unread_count: "{n} 条未读",
  typing_one: "{name} 正在输入…",
  typing_many: "{n} 人正在输入…",
  typing_short: "正在输入…",
  online: "在线",
  offline_status: "离线",
  last_seen: "最后在线 {when}",
  members_count: "{n} 位成员",
  select_chat: "选择一个会话，或搜索用户开始聊天。",
  back: "返回",
  message_placeholder: "输入消息…",
  send: "发送",
  attach: "发送文件",
  emoji: "表情",
  reply: "回复",
  copy: "复制",
  edit: "编辑",
  recall: "撤回",
  retry: "重试",
  delete: "删除",
  cancel: "取消",
  save: "保存",
  close: "关闭",
  edited: "已编辑",
  recalled: "此消息已撤回",
  recalled_by: "{name} 撤回了一条消息",
  editing: "编辑消息",
  replying_to: "回复 {name}",
  image: "[图片]",
  file: "[文件]",
  custom: "[消息]",
  system_msg: "[通知]",
  status_pending: "发送中",
  status_sent: "已发送",
  status_delivered: "已送达",
  status_read: "已读",
  status_failed: "发送失败",
  loading: "加载中…",
  load_failed: "消息加载失败。",
  beginning: "这是会话的开始。",
  today: "今天",
  yesterday: "昨天",
  new_messages: "新消息",
  jump_latest: "跳到最新消息",
  uploading: "正在上传 {name}…",
  upload_failed: "上传失败：{msg}",
  too_large_file: "文件超过 {max}。",
  download: "下载",
  open_image: "查看图片",
  image_viewer: "图片查看器",
  notifications: "桌面通知",
  notifications_hint: "Pigeon 在后台时通知我新消息",
  notifications_denied: "浏览器已阻止通知。",
  profile: "个人资料",
  devices: "登录设备",
  this_device: "本设备",
  revoke: "下线",
  device_online: "当前在线",
  blocked_users: "黑名单",
  block: "拉黑",
  unblock: "取消拉黑",
  add_friend: "加好友",
  friend_request_sent: "已发送请求",
  friends: "好友",
  requests: "好友请求",
  incoming: "收到的",
  outgoing: "发出的",
  accept: "接受",
  decline: "拒绝",
  pending: "等待中",
  no_friends: "还没有好友。搜索用户并添加吧。",
  remove_friend: "删除好友",
  group_title: "群名称",
  visibility: "可见性",
  private: "私密",
  public: "公开（任何人可搜索并加入）",
  kind: "类型",
  kind_group: "群组",
  kind_channel: "频道（仅管理员可发言）",
  add_members: "添加成员",
  create: "创建",
  members: "成员",
  role_owner: "群主",
  role_admin: "管理员",
  role_member: "成员",
  make_admin: "设为管理员",
  remove_admin: "取消管理员",
  remove: "移出",
  leave_group: "退出群组",
  dissolve_group: "解散群组",
  transfer: "转让群主",
  confirm_leave: "确定退出该群组？",
  confirm_dissolve: "确定为所有人解散该群组？",
  confirm_transfer: "确定将群主转让给 {name}？",
  announcement: "群公告",
  info: "详情",
  online_now: "当前在线",
  nobody_online: "没有其他人在线。",
  directory: "公开聊天室",
  directory_search: "搜索公开聊天室",
  join: "加入",
  joined: "已加入",
  no_rooms: "没有找到公开聊天室。",
  everyone: "所有人",
  mention_all: "通知所有人",
  read_only_channel: "只有管理员可以在此频道发言。",
  something_wrong: "出错了：{msg}",
  enable: "开启",
  copied: "已复制",
  user_profile: "资料",
  view_profile: "查看资料",
  system_joined: "加入了",
  sys_group_created: "{actor} 创建了群组“{title}”",
  sys_group_updated: "{actor} 更新了群资料",
  sys_group_dissolved: "{actor} 解散了群组",
  sys_member_added: "{actor} 邀请 {users} 加入了群组",
  sys_member_removed: "{actor} 将 {users} 移出了群组",
  sys_member_updated: "{actor} 修改了成员设置",
  sys_member_joined: "{actor} 加入了群组",
  sys_member_left: "{actor} 退出了群组",
  sys_owner_transferred: "{actor} 将群主转让给 {users}",
  error_code_40004: "用户名须为 3–32 个字符：字母、数字、_ . -",
  error_code_40051: "搜索内容太长。",
  error_code_40005: "密码长度须为 8–128 个字符",
  error_code_40101: "用户名或密码错误",
  error_code_40901: "用户名已被占用",
  error_code_42900: "请求过于频繁，请稍后再试",
  error_code_40300: "没有权限",
  error_code_40400: "未找到",
};

const DICTS = { en, zh };
const listeners = new Set();
let current = pickInitial();

function pickInitial() {
  const saved = localStorage.getItem("pigeon.lang");
  if (saved && DICTS[saved]) return saved;
  const browser = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  return browser.toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function lang() {
  return current;
}

export function setLang(code) {
  if (!DICTS[code] || code === current) return;
  current = code;
  localStorage.setItem("pigeon.lang", code);
  document.documentElement.lang = code === "zh" ? "zh-CN" : "en";
  for (const fn of listeners) fn(code);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Translate `key`, filling {placeholders} from `vars`. */
export function t(key, vars) {
  const text = DICTS[current][key] ?? en[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** A server error in the user's language when we know its code, else the server's words. */
export function errorText(error) {
  if (error && error.code) {
    const known = DICTS[current][`error_code_${error.code}`];
    if (known && current !== "en") return known;
  }
  return (error && error.message) || t("network_error");
}

export function formatTime(ts) {
  return new Date(ts).toLocaleTimeString(current === "zh" ? "zh-CN" : undefined, {
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function formatDay(ts) {
  const date = new Date(ts);
  const now = new Date();
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (date.toDateString() === now.toDateString()) return t("today");
  if (date.toDateString() === yesterday.toDateString()) return t("yesterday");
  const locale = current === "zh" ? "zh-CN" : undefined;
  const sameYear = date.getFullYear() === now.getFullYear();
  return date.toLocaleDateString(locale, {
    weekday: sameYear ? "short" : undefined,
    month: "short",
    day: "numeric",
    year: sameYear ? undefined : "numeric",
  });
}

/** Short stamp for the conversation list: time today, weekday this week, else the date. */
export function formatListTime(ts) {
  if (!ts) return "";
  const date = new Date(ts);
  const now = new Date();
  const locale = current === "zh" ? "zh-CN" : undefined;
  if (date.toDateString() === now.toDateString()) return formatTime(ts);
  if (now - date < 6 * 86400000) return date.toLocaleDateString(locale, { weekday: "short" });
  return date.toLocaleDateString(locale, { month: "numeric", day: "numeric" });
}

export function formatAgo(ts) {
  if (!ts) return "";
  const seconds = Math.max(0, (Date.now() - ts) / 1000);
  const rtf = new Intl.RelativeTimeFormat(current === "zh" ? "zh-CN" : "en", { numeric: "auto" });
  if (seconds < 60) return rtf.format(0, "second");
  if (seconds < 3600) return rtf.format(-Math.floor(seconds / 60), "minute");
  if (seconds < 86400) return rtf.format(-Math.floor(seconds / 3600), "hour");
  return rtf.format(-Math.floor(seconds / 86400), "day");
}

document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
