from harness import media
from harness.peers import room_name
from test_media import wait_subscribed, assert_sees_colours

async def test_audio_and_plain_video(peers):
    room = room_name("s1")
    alice = await peers.join(room, "alice")
    await media.publish_tone(alice)
    video_pub = await media.publish_colours(alice, simulcast=False)
    bob = await peers.join(room, "bob")
    video, _, _ = await wait_subscribed(bob, video_pub.sid)
    await assert_sees_colours(video, exact_size=False, timeout=10)

async def test_plain_video_then_audio(peers):
    room = room_name("s2")
    alice = await peers.join(room, "alice")
    video_pub = await media.publish_colours(alice, simulcast=False)
    await media.publish_tone(alice)
    bob = await peers.join(room, "bob")
    video, _, _ = await wait_subscribed(bob, video_pub.sid)
    await assert_sees_colours(video, exact_size=False, timeout=10)
